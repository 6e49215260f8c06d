package seed

// The word lists the sample data is drawn from. Changing any list changes
// the generated rows (and so the digest of a seeded database): bump
// testsupport's seedVersion when you do.

var firstNames = [...]string{
	"James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda",
	"David", "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica",
	"Thomas", "Sarah", "Christopher", "Karen", "Charles", "Lisa", "Daniel", "Nancy",
	"Matthew", "Betty", "Anthony", "Sandra", "Mark", "Margaret", "Donald", "Ashley",
	"Steven", "Kimberly", "Andrew", "Emily", "Paul", "Donna", "Joshua", "Michelle",
	"Kenneth", "Carol", "Kevin", "Amanda", "Brian", "Melissa", "Timothy", "Deborah",
	"Ronald", "Stephanie", "George", "Rebecca", "Jason", "Sharon", "Edward", "Laura",
	"Jeffrey", "Cynthia", "Ryan", "Dorothy", "Jacob", "Amy", "Nicholas", "Kathleen",
	"Gary", "Angela", "Eric", "Shirley", "Jonathan", "Emma", "Stephen", "Brenda",
	"Larry", "Pamela", "Justin", "Nicole", "Scott", "Anna", "Brandon", "Samantha",
	"Benjamin", "Katherine", "Samuel", "Christine", "Gregory", "Debra", "Alexander", "Rachel",
	"Patrick", "Carolyn", "Frank", "Janet", "Raymond", "Maria", "Jack", "Olivia",
	"Dennis", "Heather", "Jerry", "Helen", "Tyler", "Catherine", "Aaron", "Diane",
	"Jose", "Julie", "Adam", "Victoria", "Nathan", "Joyce", "Henry", "Lauren",
	"Zachary", "Kelly", "Douglas", "Christina", "Peter", "Ruth", "Kyle", "Joan",
	"Noah", "Virginia", "Ethan", "Judith", "Jeremy", "Evelyn", "Christian", "Hannah",
	"Walter", "Andrea", "Keith", "Megan", "Austin", "Cheryl", "Roger", "Jacqueline",
	"Terry", "Madison", "Sean", "Sophia", "Gerald", "Abigail", "Carl", "Teresa",
	"Dylan", "Isabella", "Harold", "Sara", "Jordan", "Janice", "Jesse", "Martha",
	"Bryan", "Gloria", "Lawrence", "Kathryn", "Arthur", "Ann", "Gabriel", "Charlotte",
	"Bruce", "Judy", "Logan", "Amber", "Billy", "Julia", "Joe", "Grace",
	"Alan", "Denise", "Juan", "Danielle", "Elijah", "Marilyn", "Willie", "Beverly",
	"Albert", "Natalie", "Wayne", "Theresa", "Randy", "Diana", "Mason", "Brittany",
	"Vincent", "Doris", "Liam", "Kayla", "Roy", "Alexis", "Bobby", "Lori",
	"Caleb", "Marie", "Bradley", "Priya", "Russell", "Mei", "Lucas", "Aisha",
	"Wei", "Fatima", "Hiroshi", "Ingrid", "Mateo", "Sofia", "Ahmed", "Yuki",
	"Raj", "Elena", "Omar", "Chloe", "Diego", "Leila", "Ivan", "Nadia",
	"Kwame", "Zara", "Luca", "Amara", "Sven", "Lucia", "Tariq", "Anika",
}

var lastNames = [...]string{
	"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
	"Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas",
	"Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White",
	"Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young",
	"Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
	"Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell",
	"Carter", "Roberts", "Gomez", "Phillips", "Evans", "Turner", "Diaz", "Parker",
	"Cruz", "Edwards", "Collins", "Reyes", "Stewart", "Morris", "Morales", "Murphy",
	"Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper", "Peterson", "Bailey",
	"Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson",
	"Watson", "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza",
	"Ruiz", "Hughes", "Price", "Alvarez", "Castillo", "Sanders", "Patel", "Myers",
	"Long", "Ross", "Foster", "Jimenez", "Powell", "Jenkins", "Perry", "Russell",
	"Sullivan", "Bell", "Coleman", "Butler", "Henderson", "Barnes", "Gonzales", "Fisher",
	"Vasquez", "Simmons", "Romero", "Jordan", "Patterson", "Alexander", "Hamilton", "Graham",
	"Reynolds", "Griffin", "Wallace", "Moreno", "West", "Cole", "Hayes", "Bryant",
	"Herrera", "Gibson", "Ellis", "Tran", "Medina", "Aguilar", "Stevens", "Murray",
	"Ford", "Castro", "Marshall", "Owens", "Harrison", "Fernandez", "McDonald", "Woods",
	"Washington", "Kennedy", "Wells", "Vargas", "Henry", "Chen", "Freeman", "Webb",
	"Tucker", "Guzman", "Burns", "Crawford", "Olson", "Simpson", "Porter", "Hunter",
	"Gordon", "Mendez", "Silva", "Shaw", "Snyder", "Mason", "Dixon", "Munoz",
	"Hunt", "Hicks", "Holmes", "Palmer", "Wagner", "Black", "Robertson", "Boyd",
	"Rose", "Stone", "Salazar", "Fox", "Warren", "Mills", "Meyer", "Rice",
	"Schmidt", "Garza", "Daniels", "Ferguson", "Nichols", "Stephens", "Soto", "Weaver",
	"Ryan", "Gardner", "Payne", "Grant", "Dunn", "Kumar", "Singh", "Wang",
	"Li", "Zhang", "Liu", "Yamamoto", "Tanaka", "Sato", "Okafor", "Mensah",
	"Novak", "Kowalski", "Larsen", "Johansson", "Rossi", "Bianchi", "Mueller", "Schneider",
	"Dubois", "Moreau", "O'Brien", "O'Connor", "Haddad", "Khan", "Ali", "Ivanova",
}

// Organization names are "<first> <second> <suffix>", e.g. "Blue Harbor
// Labs": 48 x 48 x 13 = 29,952 distinct names before numeric suffixes.
var orgFirstWords = [...]string{
	"Blue", "North", "Summit", "Pioneer", "Silver", "Granite", "Cedar", "Maple",
	"Iron", "Golden", "Red", "Evergreen", "Bright", "Clear", "Swift", "Atlas",
	"Nova", "Polar", "Coastal", "Prairie", "Crimson", "Emerald", "Sterling", "Lumen",
	"Vertex", "Quantum", "Apex", "Sapphire", "Liberty", "Horizon", "Copper", "Falcon",
	"Orchid", "Pacific", "Atlantic", "Metro", "Urban", "Solar", "Lunar", "Stellar",
	"Cobalt", "Amber", "Willow", "Aspen", "Redwood", "Beacon", "Keystone", "Frontier",
}

var orgSecondWords = [...]string{
	"Ridge", "Harbor", "Peak", "Valley", "Bridge", "Forge", "Stone", "River",
	"Field", "Point", "Wave", "Path", "Gate", "Grove", "Crest", "Lake",
	"Works", "Street", "Hill", "Bay", "Rock", "Wind", "Light", "Spring",
	"Mill", "Brook", "Port", "Line", "Signal", "Circuit", "Vista", "Haven",
	"Trail", "Canyon", "Mesa", "Shore", "Harvest", "Pine", "Oak", "Arrow",
	"Anchor", "Compass", "Cove", "Meadow", "Falls", "Range", "Loop", "Key",
}

var orgSuffixes = [...]string{
	"Inc.", "Group", "Labs", "Partners", "Holdings", "Systems", "Solutions",
	"Technologies", "Industries", "Co.", "Ventures", "Corporation", "Analytics",
}

var industries = [...]string{
	"Technology", "Healthcare", "Finance", "Retail", "Manufacturing",
	"Energy", "Education", "Logistics", "Media", "Hospitality",
}

// title is a job title with its annual salary band in whole dollars and a
// relative weight (how common it is within its department).
type title struct {
	name     string
	min, max int
	weight   int
}

type department struct {
	name   string
	weight int    // relative head count
	role   string // the project role members of this department usually take
	titles []title
}

var departments = [...]department{
	{"Engineering", 28, "developer", []title{
		{"Junior Software Engineer", 70000, 105000, 12},
		{"Software Engineer", 95000, 145000, 30},
		{"Senior Software Engineer", 130000, 185000, 22},
		{"Staff Engineer", 165000, 220000, 6},
		{"QA Engineer", 65000, 115000, 8},
		{"DevOps Engineer", 100000, 160000, 8},
		{"Data Engineer", 100000, 165000, 7},
		{"Engineering Manager", 150000, 215000, 7},
	}},
	{"Sales", 14, "member", []title{
		{"Sales Development Representative", 45000, 70000, 30},
		{"Account Executive", 65000, 120000, 35},
		{"Senior Account Executive", 95000, 150000, 20},
		{"Sales Manager", 110000, 175000, 10},
		{"VP of Sales", 170000, 220000, 5},
	}},
	{"Marketing", 9, "member", []title{
		{"Marketing Coordinator", 45000, 65000, 25},
		{"Content Strategist", 55000, 90000, 20},
		{"Marketing Manager", 80000, 130000, 25},
		{"Growth Marketer", 70000, 120000, 20},
		{"Director of Marketing", 140000, 200000, 10},
	}},
	{"Finance", 7, "analyst", []title{
		{"Accountant", 55000, 85000, 30},
		{"Financial Analyst", 65000, 105000, 35},
		{"Senior Financial Analyst", 90000, 130000, 20},
		{"Controller", 120000, 175000, 10},
		{"CFO", 180000, 220000, 5},
	}},
	{"HR", 5, "member", []title{
		{"HR Coordinator", 45000, 62000, 30},
		{"Recruiter", 55000, 90000, 35},
		{"HR Business Partner", 80000, 125000, 25},
		{"Head of People", 140000, 200000, 10},
	}},
	{"Operations", 9, "analyst", []title{
		{"Operations Associate", 45000, 65000, 30},
		{"Operations Analyst", 60000, 95000, 30},
		{"Program Manager", 90000, 140000, 25},
		{"Director of Operations", 140000, 195000, 15},
	}},
	{"Support", 12, "member", []title{
		{"Support Specialist", 45000, 62000, 45},
		{"Senior Support Specialist", 55000, 78000, 30},
		{"Support Engineer", 70000, 110000, 15},
		{"Support Manager", 85000, 125000, 10},
	}},
	{"Product", 7, "analyst", []title{
		{"Associate Product Manager", 85000, 120000, 20},
		{"Product Manager", 115000, 165000, 45},
		{"Senior Product Manager", 145000, 200000, 25},
		{"Director of Product", 175000, 220000, 10},
	}},
	{"Legal", 3, "member", []title{
		{"Paralegal", 50000, 75000, 35},
		{"Corporate Counsel", 130000, 195000, 45},
		{"General Counsel", 180000, 220000, 20},
	}},
	{"Design", 6, "designer", []title{
		{"Junior Designer", 55000, 80000, 20},
		{"Product Designer", 85000, 135000, 45},
		{"Senior Product Designer", 120000, 170000, 25},
		{"Design Manager", 145000, 200000, 10},
	}},
}

var projectCodenames = [...]string{
	"Atlas", "Phoenix", "Orion", "Aurora", "Mercury", "Apollo", "Helios", "Titan",
	"Nimbus", "Zephyr", "Falcon", "Everest", "Polaris", "Vega", "Sirius", "Lynx",
	"Kestrel", "Comet", "Quasar", "Nebula", "Horizon", "Beacon", "Catalyst", "Keystone",
	"Lighthouse", "Meridian", "Pinnacle", "Trident", "Voyager", "Zenith", "Cascade", "Sequoia",
}

// initiative is what a project does: its name and description.
type initiative struct {
	name, description string
}

var initiatives = [...]initiative{
	{"Customer Portal Redesign", "Rebuild the customer self-service portal around the most common support requests."},
	{"Cloud Migration", "Move the remaining on-premises services to managed cloud infrastructure."},
	{"Mobile App Launch", "Ship native iOS and Android apps with feature parity to the web client."},
	{"Data Warehouse Modernization", "Consolidate reporting data into a single warehouse with daily refreshes."},
	{"Billing System Overhaul", "Replace the legacy billing engine and support usage-based pricing."},
	{"CRM Integration", "Synchronize accounts and opportunities between the CRM and internal tools."},
	{"Onboarding Revamp", "Shorten time-to-value for new customers with a guided onboarding flow."},
	{"Security Hardening", "Close audit findings, rotate credentials and enforce SSO everywhere."},
	{"Analytics Dashboard", "Give every team a live dashboard of the metrics they own."},
	{"Supply Chain Visibility", "Track shipments end to end and alert on delays before customers notice."},
	{"Employee Self-Service", "Let employees manage benefits, time off and documents without tickets."},
	{"Website Refresh", "Refresh the marketing site with the new brand and faster pages."},
	{"Search Relevance", "Improve search ranking with click feedback and synonyms."},
	{"Compliance Automation", "Automate evidence collection for SOC 2 and ISO 27001 audits."},
	{"Cost Optimization", "Cut infrastructure spend by right-sizing and reserved capacity."},
	{"API Platform", "Publish a versioned public API with keys, quotas and documentation."},
	{"Knowledge Base", "Write and organize help articles that deflect common tickets."},
	{"Pricing Experiment", "Test new packaging and price points with a subset of new sign-ups."},
	{"Inventory Forecasting", "Forecast stock levels per location from sales history and seasonality."},
	{"Observability Rollout", "Instrument every service with traces, metrics and actionable alerts."},
	{"Partner Program", "Launch a referral and reseller program with tiered incentives."},
	{"Internal Tools Cleanup", "Retire unused internal tools and consolidate the rest."},
	{"Accessibility Audit", "Bring the product to WCAG 2.2 AA and keep it there with automated checks."},
	{"Localization", "Translate the product and support content into five new languages."},
}

// projectStatuses are weighted: most projects are active or completed.
type projectStatus struct {
	name   string
	weight int
}

var projectStatuses = [...]projectStatus{
	{"planning", 20},
	{"active", 40},
	{"completed", 30},
	{"on_hold", 10},
}

// memberRoles besides "lead": a member usually takes the role of their
// department (departments[].role), otherwise one of these.
var memberRoles = [...]string{"developer", "analyst", "designer", "member"}

// endpoint is something a metric sample measures, with its typical median
// value (milliseconds; for cache_hit the typical miss ratio) and how often
// it is sampled relative to the other endpoints of its metric type.
type endpoint struct {
	name   string
	median float64
	weight int
}

// metricKind describes one metric_type: its endpoints, how skewed its values
// are (the sigma of the log-normal), and whether its samples carry an HTTP
// status code (0 when not applicable, as the schema documents).
type metricKind struct {
	name       string
	weight     int
	sigma      float64
	httpStatus bool
	endpoints  []endpoint
}

var metricKinds = [...]metricKind{
	{"page_load", 25, 0.55, true, []endpoint{
		{"/", 850, 20},
		{"/dashboard", 1200, 25},
		{"/employees", 950, 18},
		{"/projects", 900, 14},
		{"/organizations", 800, 10},
		{"/reports", 1800, 6},
		{"/settings", 600, 4},
		{"/graphiql", 1400, 3},
	}},
	{"api_response", 40, 0.8, true, []endpoint{
		{"/api/employees", 45, 14},
		{"/api/projects", 38, 10},
		{"/api/organizations", 25, 8},
		{"/api/metrics", 60, 3},
		{"graphql:allEmployees", 55, 16},
		{"graphql:employees", 35, 12},
		{"graphql:allProjects", 48, 9},
		{"graphql:projects", 32, 7},
		{"graphql:allOrganizations", 22, 6},
		{"graphql:organization", 18, 8},
		{"graphql:employee", 12, 7},
		{"graphql:employeeStats", 85, 4},
		{"graphql:departmentStats", 95, 3},
		{"graphql:performanceSummary", 120, 2},
		{"graphql:slowestEndpoints", 40, 1},
	}},
	{"database", 25, 1.0, false, []endpoint{
		{"db:ListEmployees", 4, 16},
		{"db:ListEmployeesByOrganizationIDs", 6, 10},
		{"db:CountEmployees", 3, 8},
		{"db:GetEmployee", 0.6, 12},
		{"db:ListProjects", 3.5, 10},
		{"db:ListTeamMembersByProjectIDs", 5, 8},
		{"db:ListOrganizationsByIDs", 0.8, 10},
		{"db:GetEmployeeStats", 18, 4},
		{"db:ListDepartmentStats", 22, 3},
		{"db:GetPerformanceSummary", 35, 2},
	}},
	{"cache_hit", 10, 0.9, false, []endpoint{
		{"graphql:allEmployees", 0.12, 16},
		{"graphql:employees", 0.15, 12},
		{"graphql:allProjects", 0.10, 9},
		{"graphql:projects", 0.14, 7},
		{"graphql:allOrganizations", 0.05, 6},
		{"graphql:organization", 0.08, 8},
		{"graphql:employee", 0.20, 7},
	}},
}

// httpStatus is a response status and how many of 10,000 requests get it.
type httpStatus struct {
	code   int32
	weight int
}

var httpStatuses = [...]httpStatus{
	{200, 9300},
	{201, 50},
	{304, 120},
	{400, 160},
	{401, 60},
	{403, 40},
	{404, 130},
	{429, 30},
	{500, 70},
	{502, 20},
	{503, 20},
}
