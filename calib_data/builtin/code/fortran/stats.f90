! Descriptive statistics helpers.
!
! running_stats accumulates mean and variance in one pass using Welford's
! update, which avoids the catastrophic cancellation you get from the
! textbook sum(x**2)/n - mean**2 formula when the data sit far from zero.
module stats_mod
  use, intrinsic :: iso_fortran_env, only: dp => real64
  implicit none
  private
  public :: dp, running_stats, median, linear_fit

  type :: running_stats
    integer  :: n    = 0
    real(dp) :: mean = 0.0_dp
    real(dp) :: m2   = 0.0_dp          ! sum of squared deviations
    real(dp) :: lo   = huge(1.0_dp)
    real(dp) :: hi   = -huge(1.0_dp)
  contains
    procedure :: push
    procedure :: variance
  end type running_stats

contains

  subroutine push(self, x)
    class(running_stats), intent(inout) :: self
    real(dp), intent(in) :: x
    real(dp) :: delta

    self%n = self%n + 1
    delta = x - self%mean
    self%mean = self%mean + delta / self%n
    self%m2 = self%m2 + delta * (x - self%mean)   ! note: uses the *new* mean
    self%lo = min(self%lo, x)
    self%hi = max(self%hi, x)
  end subroutine push

  ! Sample variance (divides by n-1). Returns 0 for fewer than two points.
  pure real(dp) function variance(self)
    class(running_stats), intent(in) :: self
    if (self%n < 2) then
      variance = 0.0_dp
    else
      variance = self%m2 / (self%n - 1)
    end if
  end function variance

  ! Median of a copy of x, using insertion sort: fine for the small
  ! samples this is meant for, and it keeps the code short.
  real(dp) function median(x)
    real(dp), intent(in) :: x(:)
    real(dp) :: s(size(x)), key
    integer  :: i, j, n

    n = size(x)
    s = x
    do i = 2, n
      key = s(i)
      j = i - 1
      do while (j >= 1)
        if (s(j) <= key) exit
        s(j + 1) = s(j)
        j = j - 1
      end do
      s(j + 1) = key
    end do

    if (n == 0) then
      median = 0.0_dp
    else if (mod(n, 2) == 1) then
      median = s(n / 2 + 1)
    else
      median = 0.5_dp * (s(n / 2) + s(n / 2 + 1))
    end if
  end function median

  ! Ordinary least squares y = a + b*x, plus the coefficient of determination.
  subroutine linear_fit(x, y, a, b, r2)
    real(dp), intent(in)  :: x(:), y(:)
    real(dp), intent(out) :: a, b, r2
    real(dp) :: xm, ym, sxx, sxy, syy

    xm  = sum(x) / size(x)
    ym  = sum(y) / size(y)
    sxx = sum((x - xm)**2)
    sxy = sum((x - xm) * (y - ym))
    syy = sum((y - ym)**2)

    b  = sxy / sxx
    a  = ym - b * xm
    r2 = sxy**2 / (sxx * syy)
  end subroutine linear_fit

end module stats_mod


program stats_demo
  use stats_mod
  implicit none
  type(running_stats) :: rs
  real(dp) :: temps(9), hours(6), load(6), a, b, r2
  integer  :: i

  ! Readings with a large common offset: a good stress test for variance.
  temps = 1.0e6_dp + [20.1_dp, 19.8_dp, 21.4_dp, 22.0_dp, 20.7_dp, &
                      19.5_dp, 23.1_dp, 20.9_dp, 21.2_dp]
  do i = 1, size(temps)
    call rs%push(temps(i))
  end do

  print '(a, i0)',    'count    : ', rs%n
  print '(a, f14.4)', 'mean     : ', rs%mean
  print '(a, f14.6)', 'std dev  : ', sqrt(rs%variance())
  print '(a, f14.4)', 'range    : ', rs%hi - rs%lo
  print '(a, f14.4)', 'median   : ', median(temps)

  hours = [1.0_dp, 2.0_dp, 3.0_dp, 4.0_dp, 5.0_dp, 6.0_dp]
  load  = [2.1_dp, 3.9_dp, 6.2_dp, 7.8_dp, 10.1_dp, 12.0_dp]
  call linear_fit(hours, load, a, b, r2)
  print '(a, f8.4, a, f8.4, a, f7.4)', 'fit: y = ', a, ' + ', b, ' x   r^2 = ', r2
end program stats_demo
