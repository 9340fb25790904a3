"""Using ``WebhookReceiver.handle()`` from frameworks other than Flask."""
