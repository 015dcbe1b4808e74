"""HTTP kernel: the app factory every service uses, problem+json, correlation ids, metrics."""
