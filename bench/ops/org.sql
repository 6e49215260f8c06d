SELECT name, industry, is_active FROM organizations WHERE id = 1;
