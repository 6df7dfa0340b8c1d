"""AUTO mode in the service: the versioned configuration store and the glue to the pure router."""
