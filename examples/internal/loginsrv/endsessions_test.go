package loginsrv

import (
	"net/url"
	"regexp"
	"testing"
	"time"
)

// A password change, a factor added or removed signs the user out of every other
// browser and keeps the one that made it (OWASP ASVS 5.0 V7.4.3): whoever
// held a session made with the old password, or the removed factor, loses
// it.
func TestFactorChangesEndOtherSessions(t *testing.T) {
	clk := &clock{}
	ts, _ := newServer(t, clk)
	laptop, phone := newClient(t, ts.URL), newClient(t, ts.URL)

	page := laptop.get("/signup")
	page = laptop.post(page, "/signup", url.Values{"username": {"alice"}, "password": {"correct horse battery"}, "password2": {"correct horse battery"}})
	page = laptop.get("/enroll/totp")
	secret := regexp.MustCompile(`<code id="secret">([A-Z2-7]+)</code>`).FindStringSubmatch(page)
	if secret == nil {
		t.Fatalf("no secret on the page:\n%s", page)
	}
	page = laptop.post(page, "/enroll/totp", url.Values{"code": {code(t, secret[1], clk.Now())}, "name": {"phone"}})
	must(t, page, "Authenticator app added")
	clk.Advance(30 * time.Second)
	page = laptop.post(page, "/login/second", url.Values{"method": {"totp"}, "code": {code(t, secret[1], clk.Now())}})
	must(t, page, "Logged in with two factors")

	clk.Advance(30 * time.Second)
	other := phone.get("/login")
	other = phone.post(other, "/login", url.Values{"username": {"alice"}, "password": {"correct horse battery"}})
	other = phone.post(other, "/login/second", url.Values{"method": {"totp"}, "code": {code(t, secret[1], clk.Now())}})
	must(t, other, "Logged in with two factors")

	page = laptop.get("/password")
	page = laptop.post(page, "/password", url.Values{"password": {"a new long password"}, "password2": {"a new long password"}})
	must(t, page, "Password changed. Your other session was signed out.")
	must(t, page, "end-sessions")

	laptop.get("/account")
	if laptop.last != "/account" {
		t.Fatalf("the browser that changed the password was signed out: landed on %s", laptop.last)
	}
	phone.get("/account")
	if phone.last == "/account" {
		t.Fatal("a session made with the old password outlived the password change")
	}

	// Removing a factor does the same: whoever signed in with it is out.
	clk.Advance(30 * time.Second)
	other = phone.get("/login")
	other = phone.post(other, "/login", url.Values{"username": {"alice"}, "password": {"a new long password"}})
	other = phone.post(other, "/login/second", url.Values{"method": {"totp"}, "code": {code(t, secret[1], clk.Now())}})
	must(t, other, "Logged in with two factors")
	page = laptop.get("/enroll/totp")
	second := regexp.MustCompile(`<code id="secret">([A-Z2-7]+)</code>`).FindStringSubmatch(page)
	if second == nil {
		t.Fatalf("no secret on the page:\n%s", page)
	}
	page = laptop.post(page, "/enroll/totp", url.Values{"code": {code(t, second[1], clk.Now())}, "name": {"tablet"}})
	// Adding a factor does the same (ASVS 4.0.3 V3.3.3): a session from
	// before the change does not outlive it.
	must(t, page, "Authenticator app added. Your other session was signed out.")
	phone.get("/account")
	if phone.last == "/account" {
		t.Fatal("a session from before a new factor outlived its enrolment")
	}
	clk.Advance(30 * time.Second)
	other = phone.get("/login")
	other = phone.post(other, "/login", url.Values{"username": {"alice"}, "password": {"a new long password"}})
	other = phone.post(other, "/login/second", url.Values{"method": {"totp"}, "code": {code(t, secret[1], clk.Now())}})
	must(t, other, "Logged in with two factors")
	page = laptop.get("/account")
	var phoneID string
	for _, row := range regexp.MustCompile(`(?s)<tr class="factor" data-kind="totp">.*?name="id" value="([^"]+)">.*?name="name" value="([^"]+)"`).FindAllStringSubmatch(page, -1) {
		if row[2] == "phone" {
			phoneID = row[1]
		}
	}
	if phoneID == "" {
		t.Fatalf("no row for the first app on the account page:\n%s", page)
	}
	page = laptop.post(page, "/factor/revoke", url.Values{"kind": {"totp"}, "id": {phoneID}})
	must(t, page, "removed: it can no longer be used to log in. Your other session was signed out.")
	laptop.get("/account")
	if laptop.last != "/account" {
		t.Fatalf("the browser that removed the factor was signed out: landed on %s", laptop.last)
	}
	phone.get("/account")
	if phone.last == "/account" {
		t.Fatal("a session made with the removed factor outlived its removal")
	}
}
