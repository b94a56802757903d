package treaty

import "testing"

func BenchmarkOrderSign(b *testing.B) {
	k := testKey(b, 1)
	o := testOrder(b, k)
	b.ReportAllocs()
	for b.Loop() {
		if err := Sign(o, k); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOrderVerify(b *testing.B) {
	o := testOrder(b, testKey(b, 1))
	b.ReportAllocs()
	for b.Loop() {
		if err := Verify(o); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOrderEncodeCID(b *testing.B) {
	o := testOrder(b, testKey(b, 1))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := ID(o); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOrderDecode(b *testing.B) {
	_, data, err := ID(testOrder(b, testKey(b, 1)))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var o Order
		if err := Decode(data, &o); err != nil {
			b.Fatal(err)
		}
	}
}
