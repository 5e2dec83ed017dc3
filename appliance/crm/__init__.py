"""CRM-lite: customers (several numbers, classes, custom fields, timeline, merge, erasure)
and tickets (work orders). Black/red lists live in the ACD; notices in appliance/db."""
