"""Signed webhooks: inbound deliveries become events; the WEBHOOK action calls out safely."""
