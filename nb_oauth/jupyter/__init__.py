"""The notebook face of nb_oauth: the only package that imports IPython and ipywidgets."""
