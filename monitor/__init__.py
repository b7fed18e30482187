"""news-monitor: polls news feeds, extracts article text, matches keyword rules, stores
deduplicated hits and sends digests and alerts."""

__version__ = "0.1.0"
