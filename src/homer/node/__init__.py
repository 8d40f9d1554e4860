"""The composition root: a running node from its config (listeners, logging,
embedding in another aiohttp application). Nothing below it imports it."""
