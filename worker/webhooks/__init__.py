"""Customer.io reporting webhooks in: signature verification, the receiver, webhook jobs, and
the suppression store. (Filled in by the webhooks work.)"""
