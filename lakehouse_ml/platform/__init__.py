"""The platform layer every stage may import; it imports no stage: settings, storage, domain
constants, service errors, Kubernetes names and small POSIX helpers."""
