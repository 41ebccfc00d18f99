"""Inference engines. Importing this package configures JAX's persistent compilation cache
(:func:`rgfactor.inference.jaxcache.enable`) before anything is compiled."""

from rgfactor.inference.jaxcache import enable as _enable_cache

_enable_cache()
