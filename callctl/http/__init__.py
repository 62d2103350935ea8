"""callctl's HTTP side (aiohttp): the app factory, errors as JSON, bearer-token access."""
