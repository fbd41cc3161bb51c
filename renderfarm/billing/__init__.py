"""What tenants spend: running usage totals, their reports and budgets."""
