"""glue package."""
