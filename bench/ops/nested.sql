SELECT o.id, e.id,
       array(SELECT p.name FROM project_members m JOIN projects p ON p.id = m.project_id
             WHERE m.employee_id = e.id ORDER BY p.id)
FROM (SELECT id FROM organizations ORDER BY id LIMIT 50) o
CROSS JOIN LATERAL (SELECT id FROM employees WHERE organization_id = o.id ORDER BY id LIMIT 50) e;
