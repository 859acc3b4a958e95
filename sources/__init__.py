"""Reading the outside world: the catalogue CSV and the X API. Sources never write."""
