! LU 分解（部分ピボット選択付き）で連立一次方程式 A x = b を解く。
! 分解結果は A を上書きして保持し、行の入れ替えは piv に記録する。
module lu_mod
  use, intrinsic :: iso_fortran_env, only: dp => real64
  implicit none
  private
  public :: dp, lu_decompose, lu_solve

contains

  ! A = P L U に分解する。info /= 0 なら特異（またはほぼ特異）
  subroutine lu_decompose(a, piv, info)
    real(dp), intent(inout) :: a(:, :)
    integer,  intent(out)   :: piv(:)
    integer,  intent(out)   :: info
    integer  :: n, k, p, i
    real(dp) :: tmp(size(a, 2))

    n = size(a, 1)
    info = 0
    do k = 1, n
      ! 第 k 列で絶対値最大の要素を探してピボットにする
      p = k - 1 + maxloc(abs(a(k:n, k)), dim=1)
      piv(k) = p
      if (abs(a(p, k)) < epsilon(1.0_dp) * maxval(abs(a))) then
        info = k
        return
      end if
      if (p /= k) then
        tmp     = a(k, :)
        a(k, :) = a(p, :)
        a(p, :) = tmp
      end if
      ! L の係数を求め、残りの部分行列を更新する
      do i = k + 1, n
        a(i, k) = a(i, k) / a(k, k)
        a(i, k+1:n) = a(i, k+1:n) - a(i, k) * a(k, k+1:n)
      end do
    end do
  end subroutine lu_decompose

  ! 分解済みの a と piv を使って b を解 x で上書きする
  subroutine lu_solve(a, piv, b)
    real(dp), intent(in)    :: a(:, :)
    integer,  intent(in)    :: piv(:)
    real(dp), intent(inout) :: b(:)
    integer  :: n, i
    real(dp) :: t

    n = size(a, 1)
    ! 分解時と同じ順番で右辺の行を入れ替える
    do i = 1, n
      if (piv(i) /= i) then
        t = b(i)
        b(i) = b(piv(i))
        b(piv(i)) = t
      end if
    end do
    ! 前進代入（L の対角は 1）
    do i = 2, n
      b(i) = b(i) - dot_product(a(i, 1:i-1), b(1:i-1))
    end do
    ! 後退代入
    do i = n, 1, -1
      b(i) = (b(i) - dot_product(a(i, i+1:n), b(i+1:n))) / a(i, i)
    end do
  end subroutine lu_solve

end module lu_mod


program lu_demo
  use lu_mod
  implicit none
  integer, parameter :: n = 4
  real(dp) :: a(n, n), a0(n, n), b(n), x(n), r(n)
  integer  :: piv(n), info, i

  ! 対角優位ではない行列をわざと使い、ピボット選択の効果を見る
  a = reshape([ 0.0_dp,  2.0_dp,  1.0_dp,  4.0_dp, &
                1.0_dp,  1.0_dp,  3.0_dp,  2.0_dp, &
                4.0_dp, -1.0_dp,  2.0_dp,  0.0_dp, &
                2.0_dp,  3.0_dp,  0.0_dp,  1.0_dp ], [n, n], order=[2, 1])
  b  = [ 7.0_dp, 7.0_dp, 5.0_dp, 6.0_dp ]
  a0 = a

  call lu_decompose(a, piv, info)
  if (info /= 0) then
    print '(a, i0, a)', '特異行列です（', info, ' 列目）'
    stop 1
  end if

  x = b
  call lu_solve(a, piv, x)

  ! 残差 r = b - A0 x で精度を確認する
  r = b - matmul(a0, x)

  print '(a)', '解 x:'
  do i = 1, n
    print '(2x, a, i0, a, f12.8)', 'x(', i, ') = ', x(i)
  end do
  print '(a, es10.3)', '残差の最大ノルム: ', maxval(abs(r))
end program lu_demo
