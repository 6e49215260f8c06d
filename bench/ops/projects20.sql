SELECT p.name, o.name,
       array(SELECT e.name FROM project_members m JOIN employees e ON e.id = m.employee_id
             WHERE m.project_id = p.id ORDER BY e.id)
FROM projects p JOIN organizations o ON o.id = p.organization_id
ORDER BY p.id LIMIT 20;
