"""Executions: what ran for which event, step by step; operators cancel and retry them."""
