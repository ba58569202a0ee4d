!=======================================================================
! 一次元熱伝導方程式  u_t = alpha * u_xx  を陽解法（FTCS）で解く。
!   区間 [0, 1]、両端は u = 0 の固定境界（ディリクレ条件）
!   初期条件 u(x, 0) = sin(pi x)
! この設定には厳密解 u = exp(-alpha pi^2 t) sin(pi x) があるので、
! 数値解との差を見れば実装の正しさを確認できる。
!=======================================================================
program heat1d
  use, intrinsic :: iso_fortran_env, only: dp => real64
  implicit none

  integer,  parameter :: nx    = 51            ! 格子点数（両端を含む）
  real(dp), parameter :: alpha = 0.01_dp       ! 熱拡散率
  real(dp), parameter :: t_end = 5.0_dp
  real(dp), parameter :: pi    = acos(-1.0_dp)

  real(dp) :: u(nx), u_new(nx), x(nx), exact(nx)
  real(dp) :: dx, dt, r, t
  integer  :: i, step, nsteps, report_every

  dx = 1.0_dp / (nx - 1)

  ! 安定条件 r = alpha dt / dx^2 <= 1/2 を満たすよう dt を決める。
  ! 余裕を見て 0.4 に抑える
  r  = 0.4_dp
  dt = r * dx**2 / alpha
  nsteps = ceiling(t_end / dt)
  dt = t_end / nsteps            ! ちょうど t_end で終わるよう微調整
  r  = alpha * dt / dx**2
  report_every = max(1, nsteps / 5)

  write (*, '(a, f6.4, a, es10.3, a, i0)') &
       'r = ', r, '   dt = ', dt, '   steps = ', nsteps
  if (r > 0.5_dp) then
    write (*, '(a)') '警告: 安定条件を満たしていません'
  end if

  x = [(real(i - 1, dp) * dx, i = 1, nx)]
  u = sin(pi * x)
  t = 0.0_dp

  write (*, '(a10, a14, a14)') 't', 'u(0.5)', 'max error'
  call report()

  do step = 1, nsteps
    ! 内部の点だけ更新する。配列式で書けばループは不要
    u_new(2:nx-1) = u(2:nx-1) + r * (u(3:nx) - 2.0_dp * u(2:nx-1) + u(1:nx-2))
    ! 境界値は固定
    u_new(1)  = 0.0_dp
    u_new(nx) = 0.0_dp
    u = u_new
    t = step * dt

    if (mod(step, report_every) == 0 .or. step == nsteps) call report()
  end do

  ! 全熱量（台形則）。境界から熱が逃げるので時間とともに減る
  write (*, '(a, f10.6)') '最終時刻の全熱量: ', &
       dx * (sum(u) - 0.5_dp * (u(1) + u(nx)))

contains

  ! 中央の値と、厳密解との最大誤差を表示する
  subroutine report()
    exact = exp(-alpha * pi**2 * t) * sin(pi * x)
    write (*, '(f10.4, f14.8, es14.4)') t, u((nx + 1) / 2), maxval(abs(u - exact))
  end subroutine report

end program heat1d
