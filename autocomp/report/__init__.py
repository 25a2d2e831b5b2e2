"""Human-facing output: console tables now, an HTML report later."""
