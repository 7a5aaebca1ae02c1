package provider

// FillPasswordChecks takes every password-check slot until release is
// called, so tests can see what a request meets when the bound is full.
func (p *Provider) FillPasswordChecks() (release func()) {
	n := cap(p.passwords.slots)
	for range n {
		p.passwords.slots <- struct{}{}
	}
	return func() {
		for range n {
			<-p.passwords.slots
		}
	}
}
