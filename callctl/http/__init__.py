"""callctl's HTTP side (aiohttp): health now, the operator API later."""
