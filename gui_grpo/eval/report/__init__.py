"""Reports: ``runs`` reads run directories, ``html``/``plots``/``compare`` draw, ``build`` writes the page."""
