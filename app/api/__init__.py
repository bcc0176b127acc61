"""HTTP blueprints: thin views that load a schema, call a service and render the answer."""
