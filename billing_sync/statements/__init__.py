"""Monthly statements for a partner's customers: who was counted, who left, what was written."""
