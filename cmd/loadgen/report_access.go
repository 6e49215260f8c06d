package main

import "fmt"

// aclOps are the operations of section 2b (bench.sh ACL_OPS): those whose
// data a member of organization 1 sees whole.
var aclOps = []string{"org", "employees50", "project", "projects20"}

// aclWithin is the goal of issue #19: with a token, within 10% of the
// requests per second without authorization.
const aclWithin = 0.9

// scenario2b is access control's cost: requests per second at c=32 with
// an admin and a member token next to no token (ANONYMOUS_ROLE=admin),
// uncached and cached, from files c32.acl.MODE.WHO.OP.rN.
func (r *report) scenario2b() {
	r.printf("## 2b. Access control (concurrency 32)\n\n")
	r.printf("The uncached and cached servers of section 2, which also verify JWTs (`JWT_SECRET`) and let a request without a token in as an admin (`ANONYMOUS_ROLE=admin`): ")
	r.printf("*none* sends no token (no authorization at all), *admin* an admin JWT, *member* a member JWT of organization 1, whose statements bind its scope (`organization_id = ANY($scope)`) and whose cached responses are kept under its own key. ")
	r.printf("These operations return exactly organization 1's rows, so every principal gets the same response (checked with `loadgen samedata` before measuring). ")
	r.printf("Each round runs none, admin and member one after the other, starting with another of them each round; the ratios are the median of the rounds' own ratios. Goal (issue #19): admin and member within 10%% of none.\n\n")
	r.printf("| operation | | none rps | admin rps | member rps | admin / none | member / none |\n|---|---|---|---|---|---|---|\n")
	for _, key := range aclOps {
		title := key
		for _, op := range benchOps {
			if op.key == key {
				title = op.title
			}
		}
		for _, mode := range []struct{ key, name string }{{"nocache", "uncached"}, {"cache", "cached"}} {
			base := "c32.acl." + mode.key + "."
			none, noneRounds := loadRounds(r, base+"none."+key)
			admin, adminRounds := loadRounds(r, base+"admin."+key)
			member, memberRounds := loadRounds(r, base+"member."+key)
			if none == nil || admin == nil || member == nil {
				continue
			}
			ar, _ := pairedRatio(admin.RPS, none.RPS, adminRounds, noneRounds)
			mr, _ := pairedRatio(member.RPS, none.RPS, memberRounds, noneRounds)
			r.printf("| %s | %s | %s%s | %s%s | %s%s | %.2f | %.2f |\n", title, mode.name,
				frps(none.RPS), errNote(none), frps(admin.RPS), errNote(admin), frps(member.RPS), errNote(member), ar, mr)
			ok := ar >= aclWithin && mr >= aclWithin && admin.Errors == 0 && member.Errors == 0 && none.Errors == 0
			r.goal(fmt.Sprintf("access control, %s, %s: admin and member tokens within 10%% of no authorization (rps at c=32)", title, mode.name),
				fmt.Sprintf("admin %.2f, member %.2f (%s, %s and %s rps)", ar, mr, frps(admin.RPS), frps(member.RPS), frps(none.RPS)), ok)
		}
	}
	r.printf("\n")
}
