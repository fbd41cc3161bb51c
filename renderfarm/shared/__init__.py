"""The pieces every part uses: errors, ports, settings, blob layout, logging, retries."""
