"""BibTeX entries of the papers and software the report and its Methods text cite.

Keys are cited in ``methods.md`` as ``[@key]`` (pandoc citation syntax); :func:`bibtex` writes the
entries of the cited keys. Add an entry here when a component's Methods sentence
(:mod:`rgfactor.posterior.methods`) cites a new paper.
"""

from __future__ import annotations

from rgfactor.errors import DataError

REFERENCES = {
    "argelaguet2018mofa": """@article{argelaguet2018mofa,
  author = {Argelaguet, Ricard and Velten, Britta and Arnol, Damien and Dietrich, Sascha and Zenz, Thorsten and Marioni, John C. and Buettner, Florian and Huber, Wolfgang and Stegle, Oliver},
  title = {Multi-Omics Factor Analysis---a framework for unsupervised integration of multi-omics data sets},
  journal = {Molecular Systems Biology}, volume = {14}, number = {6}, pages = {e8124}, year = {2018},
  doi = {10.15252/msb.20178124}}""",
    "argelaguet2020mofaplus": """@article{argelaguet2020mofaplus,
  author = {Argelaguet, Ricard and Arnol, Damien and Bredikhin, Danila and Deloro, Yonatan and Velten, Britta and Marioni, John C. and Stegle, Oliver},
  title = {{MOFA+}: a statistical framework for comprehensive integration of multi-modal single-cell data},
  journal = {Genome Biology}, volume = {21}, pages = {111}, year = {2020}, doi = {10.1186/s13059-020-02015-1}}""",
    "klami2015gfa": """@article{klami2015gfa,
  author = {Klami, Arto and Virtanen, Seppo and Lepp{\\"a}aho, Eemeli and Kaski, Samuel},
  title = {Group Factor Analysis},
  journal = {IEEE Transactions on Neural Networks and Learning Systems}, volume = {26}, number = {9},
  pages = {2136--2147}, year = {2015}, doi = {10.1109/TNNLS.2014.2376974}}""",
    "klami2013bcca": """@article{klami2013bcca,
  author = {Klami, Arto and Virtanen, Seppo and Kaski, Samuel},
  title = {Bayesian Canonical Correlation Analysis},
  journal = {Journal of Machine Learning Research}, volume = {14}, pages = {965--1003}, year = {2013}}""",
    "bishop1999bpca": """@inproceedings{bishop1999bpca,
  author = {Bishop, Christopher M.}, title = {Bayesian {PCA}},
  booktitle = {Advances in Neural Information Processing Systems 11}, pages = {382--388}, year = {1999}}""",
    "elbouhaddani2018ppls": """@article{elbouhaddani2018ppls,
  author = {el Bouhaddani, Said and Uh, Hae-Won and Jongbloed, Geurt and Hayward, Caroline and Klari{\\'c}, Lucija and Kie{\\l}basa, Szymon M. and Houwing-Duistermaat, Jeanine},
  title = {Probabilistic partial least squares model: Identifiability, estimation and application},
  journal = {Journal of Multivariate Analysis}, volume = {167}, pages = {331--346}, year = {2018},
  doi = {10.1016/j.jmva.2018.05.009}}""",
    "polson2013polya": """@article{polson2013polya,
  author = {Polson, Nicholas G. and Scott, James G. and Windle, Jesse},
  title = {Bayesian Inference for Logistic Models Using {P}{\\'o}lya--{G}amma Latent Variables},
  journal = {Journal of the American Statistical Association}, volume = {108}, number = {504},
  pages = {1339--1349}, year = {2013}, doi = {10.1080/01621459.2013.829001}}""",
    "titsias2011spike": """@inproceedings{titsias2011spike,
  author = {Titsias, Michalis K. and L{\\'a}zaro-Gredilla, Miguel},
  title = {Spike and Slab Variational Inference for Multi-Task and Multiple Kernel Learning},
  booktitle = {Advances in Neural Information Processing Systems 24}, pages = {2339--2347}, year = {2011}}""",
    "piironen2017horseshoe": """@article{piironen2017horseshoe,
  author = {Piironen, Juho and Vehtari, Aki},
  title = {Sparsity information and regularization in the horseshoe and other shrinkage priors},
  journal = {Electronic Journal of Statistics}, volume = {11}, number = {2}, pages = {5018--5051}, year = {2017},
  doi = {10.1214/17-EJS1337SI}}""",
    "hoffman2013svi": """@article{hoffman2013svi,
  author = {Hoffman, Matthew D. and Blei, David M. and Wang, Chong and Paisley, John},
  title = {Stochastic Variational Inference},
  journal = {Journal of Machine Learning Research}, volume = {14}, pages = {1303--1347}, year = {2013}}""",
    "hoffman2014nuts": """@article{hoffman2014nuts,
  author = {Hoffman, Matthew D. and Gelman, Andrew},
  title = {The {No-U-Turn} Sampler: Adaptively Setting Path Lengths in {H}amiltonian {M}onte {C}arlo},
  journal = {Journal of Machine Learning Research}, volume = {15}, pages = {1593--1623}, year = {2014}}""",
    "vehtari2017loo": """@article{vehtari2017loo,
  author = {Vehtari, Aki and Gelman, Andrew and Gabry, Jonah},
  title = {Practical {B}ayesian model evaluation using leave-one-out cross-validation and {WAIC}},
  journal = {Statistics and Computing}, volume = {27}, number = {5}, pages = {1413--1432}, year = {2017},
  doi = {10.1007/s11222-016-9696-4}}""",
    "vehtari2021rhat": """@article{vehtari2021rhat,
  author = {Vehtari, Aki and Gelman, Andrew and Simpson, Daniel and Carpenter, Bob and B{\\"u}rkner, Paul-Christian},
  title = {Rank-Normalization, Folding, and Localization: An Improved {$\\widehat{R}$} for Assessing Convergence of {MCMC}},
  journal = {Bayesian Analysis}, volume = {16}, number = {2}, pages = {667--718}, year = {2021}, doi = {10.1214/20-BA1221}}""",
    "stephens2017ash": """@article{stephens2017ash,
  author = {Stephens, Matthew}, title = {False discovery rates: a new deal},
  journal = {Biostatistics}, volume = {18}, number = {2}, pages = {275--294}, year = {2017},
  doi = {10.1093/biostatistics/kxw041}}""",
    "benjamini1995fdr": """@article{benjamini1995fdr,
  author = {Benjamini, Yoav and Hochberg, Yosef},
  title = {Controlling the False Discovery Rate: A Practical and Powerful Approach to Multiple Testing},
  journal = {Journal of the Royal Statistical Society: Series B (Methodological)}, volume = {57}, number = {1},
  pages = {289--300}, year = {1995}, doi = {10.1111/j.2517-6161.1995.tb02031.x}}""",
    "nakagawa2013r2": """@article{nakagawa2013r2,
  author = {Nakagawa, Shinichi and Schielzeth, Holger},
  title = {A general and simple method for obtaining {$R^2$} from generalized linear mixed-effects models},
  journal = {Methods in Ecology and Evolution}, volume = {4}, number = {2}, pages = {133--142}, year = {2013},
  doi = {10.1111/j.2041-210x.2012.00261.x}}""",
    "yeo2000transform": """@article{yeo2000transform,
  author = {Yeo, In-Kwon and Johnson, Richard A.},
  title = {A new family of power transformations to improve normality or symmetry},
  journal = {Biometrika}, volume = {87}, number = {4}, pages = {954--959}, year = {2000}, doi = {10.1093/biomet/87.4.954}}""",
    "anders2010deseq": """@article{anders2010deseq,
  author = {Anders, Simon and Huber, Wolfgang}, title = {Differential expression analysis for sequence count data},
  journal = {Genome Biology}, volume = {11}, pages = {R106}, year = {2010}, doi = {10.1186/gb-2010-11-10-r106}}""",
    "phan2019numpyro": """@article{phan2019numpyro,
  author = {Phan, Du and Pradhan, Neeraj and Jankowiak, Martin},
  title = {Composable Effects for Flexible and Accelerated Probabilistic Programming in {NumPyro}},
  journal = {arXiv preprint arXiv:1912.11554}, year = {2019}}""",
    "bradbury2018jax": """@misc{bradbury2018jax,
  author = {Bradbury, James and Frostig, Roy and Hawkins, Peter and Johnson, Matthew James and Leary, Chris and Maclaurin, Dougal and Necula, George and Paszke, Adam and VanderPlas, Jake and Wanderman-Milne, Skye and Zhang, Qiao},
  title = {{JAX}: composable transformations of {P}ython+{N}um{P}y programs}, year = {2018},
  howpublished = {\\url{http://github.com/jax-ml/jax}}}""",
    "kumar2019arviz": """@article{kumar2019arviz,
  author = {Kumar, Ravin and Carroll, Colin and Hartikainen, Ari and Martin, Osvaldo},
  title = {{ArviZ} a unified library for exploratory analysis of {B}ayesian models in {P}ython},
  journal = {Journal of Open Source Software}, volume = {4}, number = {33}, pages = {1143}, year = {2019},
  doi = {10.21105/joss.01143}}""",
    "harris2020numpy": """@article{harris2020numpy,
  author = {Harris, Charles R. and Millman, K. Jarrod and van der Walt, St{\\'e}fan J. and others},
  title = {Array programming with {NumPy}}, journal = {Nature}, volume = {585}, pages = {357--362}, year = {2020},
  doi = {10.1038/s41586-020-2649-2}}""",
    "virtanen2020scipy": """@article{virtanen2020scipy,
  author = {Virtanen, Pauli and Gommers, Ralf and Oliphant, Travis E. and others},
  title = {{SciPy} 1.0: fundamental algorithms for scientific computing in {P}ython},
  journal = {Nature Methods}, volume = {17}, pages = {261--272}, year = {2020}, doi = {10.1038/s41592-019-0686-2}}""",
    "velten2022mefisto": """@article{velten2022mefisto,
  author = {Velten, Britta and Braunger, Jana M. and Argelaguet, Ricard and Arnol, Damien and Wirbel, Jakob and
            Bredikhin, Danila and Zeller, Georg and Stegle, Oliver},
  title = {Identifying temporal and spatial patterns of variation from multimodal data using {MEFISTO}},
  journal = {Nature Methods}, volume = {19}, pages = {179--186}, year = {2022}, doi = {10.1038/s41592-021-01343-9}}""",
    "gelman2005anova": """@article{gelman2005anova,
  author = {Gelman, Andrew}, title = {Analysis of variance---why it is more important than ever},
  journal = {The Annals of Statistics}, volume = {33}, number = {1}, pages = {1--53}, year = {2005},
  doi = {10.1214/009053604000001048}}""",
    "solin2020hilbert": """@article{solin2020hilbert,
  author = {Solin, Arno and S{\\"a}rkk{\\"a}, Simo},
  title = {Hilbert space methods for reduced-rank {G}aussian process regression},
  journal = {Statistics and Computing}, volume = {30}, pages = {419--446}, year = {2020}, doi = {10.1007/s11222-019-09886-w}}""",
    "riutortmayol2023hsgp": """@article{riutortmayol2023hsgp,
  author = {Riutort-Mayol, Gabriel and B{\\"u}rkner, Paul-Christian and Andersen, Michael R. and Solin, Arno and
            Vehtari, Aki},
  title = {Practical {H}ilbert space approximate {B}ayesian {G}aussian processes for probabilistic programming},
  journal = {Statistics and Computing}, volume = {33}, pages = {17}, year = {2023}, doi = {10.1007/s11222-022-10167-2}}""",
    "higdon2002convolution": """@incollection{higdon2002convolution,
  author = {Higdon, Dave}, title = {Space and space-time modeling using process convolutions},
  booktitle = {Quantitative Methods for Current Environmental Issues},
  editor = {Anderson, Clive W. and Barnett, Vic and Chatwin, Philip C. and El-Shaarawi, Abdel H.},
  publisher = {Springer}, address = {London}, pages = {37--56}, year = {2002}, doi = {10.1007/978-1-4471-0657-9_2}}""",
}


def bibtex(keys) -> str:
    """The BibTeX entries of ``keys`` (deduplicated, in the order given), separated by blank lines.

    Raises
    ------
    DataError  for a key without an entry (add it to ``REFERENCES``).
    """
    keys = list(dict.fromkeys(keys))
    unknown = [k for k in keys if k not in REFERENCES]
    if unknown:
        raise DataError(f"no BibTeX entry for {unknown}; add them to rgfactor.report.references.REFERENCES.")
    return "\n\n".join(REFERENCES[k] for k in keys) + "\n"
