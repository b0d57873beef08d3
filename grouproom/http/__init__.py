"""HTTP: the pages of the web client and the headers every response carries."""
