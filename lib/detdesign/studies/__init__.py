"""One module per notebook: the experiment loops behind each claim (notebooks only call these)."""
