"""What a user waits for besides the fit: `import rgfactor`, `rgfactor --help`, and the first and a warm
`transform` / first `predict` of 50 new subjects after a fit, each in a fresh process (issue 15).

    python benchmarks/startup.py      # prints JSON and writes benchmarks/results/startup.json
"""
import subprocess, sys, time, json, os
def t(cmd, env=None):
    t0=time.perf_counter(); r=subprocess.run(cmd, capture_output=True, text=True, env=env); return round(time.perf_counter()-t0,2), r.returncode
py=sys.executable
out={}
out["import_rgfactor_s"]=min(t([py,"-c","import rgfactor"])[0] for _ in range(3))
out["cli_help_s"]=min(t([os.path.join(os.path.dirname(py),"rgfactor"),"--help"])[0] for _ in range(3))
script = r'''
import time, warnings
t0=time.perf_counter()
import rgfactor as rgf
data, truth = rgf.simulate.multiview(n_subjects=250, n_factors=5, random_state=0)
train = data.subset(list(data.subjects)[:200]); new = data.subset(list(data.subjects)[200:])
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    m = rgf.GFA(5, site_effects=True, progress=False).fit(train)
t1=time.perf_counter(); m.transform(new); t2=time.perf_counter(); m.transform(new); t3=time.perf_counter()
m.predict(new, "mutations" if "mutations" in data.views else list(data.views)[-1]); t4=time.perf_counter()
print(f"{t1-t0:.2f} {t2-t1:.3f} {t3-t2:.3f} {t4-t3:.2f}")
'''
r=subprocess.run([py,"-c",script],capture_output=True,text=True)
fit, first, warm, pred = r.stdout.split()
out.update(demo_cohort_fit_fresh_s=float(fit), first_transform_50_s=float(first), warm_transform_50_s=float(warm), first_predict_50_s=float(pred))
print(json.dumps(out))
from pathlib import Path
(Path(__file__).parent / "results" / "startup.json").write_text(json.dumps(out, indent=1) + "\n")
