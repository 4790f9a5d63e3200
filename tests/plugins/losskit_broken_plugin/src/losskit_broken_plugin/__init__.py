"""A plugin whose loss module cannot be imported (it needs a package that is not installed)."""
