"""HTTP blueprints: thin views that load a schema, call a service and render the answer."""

# Never rate-limited: probes and scrapes must always answer, and the docs and the demo page cost
# nothing upstream. The rate limiter exempts these blueprints by name:
#     for name in NOT_RATE_LIMITED: limiter.exempt(app.blueprints[name])
NOT_RATE_LIMITED = ("health", "metrics", "pages", "api-docs", "docs_assets")
