SELECT e.name, o.name
FROM employees e JOIN organizations o ON o.id = e.organization_id
ORDER BY e.id LIMIT 50;
