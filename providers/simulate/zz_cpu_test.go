package simulate
import ("testing";"context";"fmt";"syscall";"time";"runtime")
func cpuT() time.Duration { var r syscall.Rusage; syscall.Getrusage(syscall.RUSAGE_SELF,&r); return time.Duration(r.Utime.Nano()+r.Stime.Nano()) }
func TestZZCPU(t *testing.T){
	for i:=0;i<3;i++{
	runtime.GC()
	c0:=cpuT(); w0:=time.Now()
	r,err:=Run(context.Background(), Config{Operators:7,Orders:100000,Seed:1,Fail:0.2,Strategy:"reputation"})
	c:=cpuT()-c0; w:=time.Since(w0)
	if err!=nil{t.Fatal(err)}
	fmt.Printf("cpu %v (%.0f/s cpu) wall %v (%.0f/s) fill %.4f\n", c, 1e5/c.Seconds(), w, 1e5/w.Seconds(), r.FillRate)
	}
}
