"""What the service does, free of Flask request objects: typed and testable on its own."""
