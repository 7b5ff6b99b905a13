"""roadside central: collector, query and health servers on etcd, and the travel-time engine."""
