"""Demo data: one tenant with clients, workflows and their executions (`make seed`)."""
