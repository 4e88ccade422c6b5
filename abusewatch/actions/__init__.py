"""Steps 5-6, decide and emit: the actions service's work on each batch (plan with the policy, record evidence, then send) and appeals; Kafka-free."""
