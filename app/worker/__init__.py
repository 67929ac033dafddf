"""The SAQ queue, its job registry and the worker runtime (in the API or `crmflow worker`)."""
