package failover_test

import (
	"context"
	"fmt"
	"log"

	"github.com/go-twofactor/twofactor"
	"github.com/go-twofactor/twofactor/failover"
)

// ExampleNew sends through a second provider while the first one is
// down, and checks the code with the provider that sent it. Two Mocks play
// the providers here; in an app they would be, for example, a bird.Provider
// and a twilioverify.Provider.
func ExampleNew() {
	var code string
	primary := &twofactor.Mock{Fail: func(string) error { return twofactor.ErrUnavailable }} // an outage
	backup := &twofactor.Mock{OnCode: func(_ twofactor.Verification, c string) { code = c }}

	f, err := failover.New([]twofactor.Provider{primary, backup}, failover.Config{
		OnEvent: func(ev failover.Event) {
			fmt.Println("event:", ev.Kind, ev.Provider, ev.Next)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	v, err := f.Send(ctx, twofactor.Request{Phone: "+31612345678"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("sent by the backup:", backup.Sends() == 1)
	fmt.Println("check:", f.Check(ctx, v.ID, code))
	// Output:
	// event: switched 0 1
	// sent by the backup: true
	// check: <nil>
}
