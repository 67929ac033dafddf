"""crmflow: workflow automation around a CRM's clients."""
