"""The benchmark's HTML page, rendered from ``templates/report.html.j2`` with Jinja2 (autoescaped:
task, method and error texts are escaped by the template engine, never pasted into HTML)."""

from __future__ import annotations

from pathlib import Path

from rgfactor.errors import RGFactorError


def render_report(path, **context) -> Path:
    """Render the page with ``context`` (config, run_info, tables, failures, figures) to ``path``.

    Raises
    ------
    RGFactorError  if Jinja2 is missing (it comes with the 'bench' extra, through Dask).
    """
    try:
        import jinja2
    except ImportError as e:
        raise RGFactorError("the benchmark report needs Jinja2: pip install 'rgfactor[bench]'.") from e
    env = jinja2.Environment(loader=jinja2.PackageLoader("rgfactor.benchmark", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined)
    html = env.get_template("report.html.j2").render(**context)
    path = Path(path)
    path.write_text(html)
    return path
