"""ConnectWise Manage REST client: records, errors, conditions, schemas and the client."""
