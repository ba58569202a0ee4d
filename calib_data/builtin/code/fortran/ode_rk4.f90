! 常微分方程式の一段法（前進オイラー法と古典的 4 次ルンゲ＝クッタ法）。
! 調和振動子 y'' = -omega^2 y を解き、刻み幅を半分にしたとき
! 誤差がどれだけ減るか（収束次数）を確かめる。
module ode_mod
  use, intrinsic :: iso_fortran_env, only: dp => real64
  implicit none
  private
  public :: dp, rhs_func, step_func, euler_step, rk4_step, integrate

  ! 右辺 f(t, y) の型
  abstract interface
    function rhs_func(t, y) result(dydt)
      import :: dp
      real(dp), intent(in) :: t
      real(dp), intent(in) :: y(:)
      real(dp) :: dydt(size(y))
    end function rhs_func
  end interface

  ! 1 ステップ進める手続きの型
  abstract interface
    function step_func(f, t, y, h) result(ynew)
      import :: dp, rhs_func
      procedure(rhs_func)  :: f
      real(dp), intent(in) :: t, h
      real(dp), intent(in) :: y(:)
      real(dp) :: ynew(size(y))
    end function step_func
  end interface

contains

  function euler_step(f, t, y, h) result(ynew)
    procedure(rhs_func)  :: f
    real(dp), intent(in) :: t, h
    real(dp), intent(in) :: y(:)
    real(dp) :: ynew(size(y))
    ynew = y + h * f(t, y)
  end function euler_step

  function rk4_step(f, t, y, h) result(ynew)
    procedure(rhs_func)  :: f
    real(dp), intent(in) :: t, h
    real(dp), intent(in) :: y(:)
    real(dp) :: ynew(size(y))
    real(dp), dimension(size(y)) :: k1, k2, k3, k4

    k1 = f(t, y)
    k2 = f(t + 0.5_dp*h, y + 0.5_dp*h*k1)
    k3 = f(t + 0.5_dp*h, y + 0.5_dp*h*k2)
    k4 = f(t + h, y + h*k3)
    ynew = y + (h / 6.0_dp) * (k1 + 2.0_dp*k2 + 2.0_dp*k3 + k4)
  end function rk4_step

  ! t0 から t1 まで n 等分して積分する。y は初期値を受け取り終値を返す
  subroutine integrate(step, f, t0, t1, n, y)
    procedure(step_func)    :: step
    procedure(rhs_func)     :: f
    real(dp), intent(in)    :: t0, t1
    integer,  intent(in)    :: n
    real(dp), intent(inout) :: y(:)
    real(dp) :: h, t
    integer  :: i

    h = (t1 - t0) / n
    do i = 0, n - 1
      ! t を足し込むと丸め誤差が溜まるので、毎回 i から計算し直す
      t = t0 + i * h
      y = step(f, t, y, h)
    end do
  end subroutine integrate

end module ode_mod


module oscillator
  use ode_mod, only: dp
  implicit none
  real(dp), parameter :: omega = 2.0_dp
contains
  ! 状態ベクトルは (位置, 速度)。自励系なので t は使わない
  function harmonic(t, y) result(dydt)
    real(dp), intent(in) :: t
    real(dp), intent(in) :: y(:)
    real(dp) :: dydt(size(y))
    dydt(1) = y(2)
    dydt(2) = -omega**2 * y(1)
  end function harmonic
end module oscillator


program ode_demo
  use ode_mod
  use oscillator, only: harmonic, omega
  implicit none
  real(dp), parameter :: t_end = 10.0_dp
  real(dp) :: y(2), exact(2), err_eu, err_rk, prev_rk
  integer  :: k, n

  ! 初期条件 y(0) = 1, y'(0) = 0 の厳密解
  exact = [cos(omega * t_end), -omega * sin(omega * t_end)]
  prev_rk = -1.0_dp

  print '(a8, 2a14, a10)', 'steps', 'euler err', 'rk4 err', 'ratio'
  do k = 0, 4
    n = 100 * 2**k

    y = [1.0_dp, 0.0_dp]
    call integrate(euler_step, harmonic, 0.0_dp, t_end, n, y)
    err_eu = maxval(abs(y - exact))

    y = [1.0_dp, 0.0_dp]
    call integrate(rk4_step, harmonic, 0.0_dp, t_end, n, y)
    err_rk = maxval(abs(y - exact))

    ! 4 次の方法なら刻み幅半分で誤差はおよそ 1/16 になるはず
    if (prev_rk > 0.0_dp) then
      print '(i8, 2es14.4, f10.2)', n, err_eu, err_rk, prev_rk / err_rk
    else
      print '(i8, 2es14.4)', n, err_eu, err_rk
    end if
    prev_rk = err_rk
  end do
end program ode_demo
