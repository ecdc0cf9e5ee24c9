"""Device state shared by discovery (writer) and the device plugins (reader)."""
