"""Central's HTTP service for the city's desk: JSON, GeoJSON and DATEX II feeds of the travel
times and detector health, with API keys (or open data) on the site's trust model."""
