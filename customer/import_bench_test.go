package customer_test

import (
	"context"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/storage/storagetest"
)

// BenchmarkImport100k imports 100,000 customers (each with an external id, names, a
// bcrypt hash, an address, a membership and attributes) into an empty tenant, streamed
// from a generator, on each database; it reports customers a second. Run it alone:
//
//	CUSTODIAN_TEST_POSTGRES_URL=… go test -run '^$' -bench BenchmarkImport100k -benchtime 1x ./customer/
func BenchmarkImport100k(b *testing.B) { benchImport(b, false) }

// BenchmarkImport100kReimport imports the same 100,000 customers twice, untimed then
// timed, with no ANALYZE in between: the second run matches every line by external id and
// replaces each customer's address and membership on tables whose statistics still
// describe them empty.
func BenchmarkImport100kReimport(b *testing.B) { benchImport(b, true) }

func benchImport(b *testing.B, again bool) {
	const n = 100_000
	run := func(b *testing.B, f *fixture) (customer.ImportSummary, error) {
		pr, pw := io.Pipe()
		go func() {
			for j := range n {
				fmt.Fprintf(pw, `{"email":"shopper%d@example.com","externalId":"ext-%d","firstName":"First%d","lastName":"Last","localeCode":"de-DE",`+
					`"password":{"format":"bcrypt","hash":"$2y$10$9/8KsNN7hkTx9tGxxZm2Su4AivkRb/XaBeS.kh0928SpeXJULtHum"},`+
					`"addresses":[{"street":"Hauptstr.","streetNumber":"%d","zipCode":"10115","city":"Berlin","country":"DE"}],`+
					`"b2b":{"legalEntities":[{"id":"le-%d","name":"Company %d"}]},"attributes":[{"fullyQualifiedName":"tenant~tier","values":["gold"]}]}`+"\n",
					j, j, j, j, j%1000, j%1000)
			}
			pw.Close()
		}()
		return f.svc.Import(context.Background(), "shop", pr, customer.ImportOptions{})
	}
	for _, be := range storagetest.Backends(b) {
		b.Run(be.Name, func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				fresh := storagetest.Backends(b)
				var bk storagetest.Backend
				for _, x := range fresh {
					if x.Name == be.Name {
						bk = x
					}
				}
				f := newFixture(b, bk, noLimits())
				if again {
					if sum, err := run(b, f); err != nil || sum.Created != n {
						b.Fatalf("first import: %+v %v", sum, err)
					}
				}
				b.StartTimer()
				start := time.Now()
				sum, err := run(b, f)
				total += time.Since(start)
				if err != nil || (!again && sum.Created != n) || (again && (sum.Updated != n || sum.Created != 0)) {
					b.Fatalf("%+v %v", sum, err)
				}
			}
			b.ReportMetric(float64(n*b.N)/total.Seconds(), "customers/s")
		})
	}
}
